mkdir -p /app/cloud && touch /app/cloud/data.txt
