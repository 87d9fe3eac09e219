mkdir -p /app/cloud && touch /app/cloud/result.txt
