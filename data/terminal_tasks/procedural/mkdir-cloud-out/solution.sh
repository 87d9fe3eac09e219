mkdir -p /app/cloud && touch /app/cloud/out.txt
