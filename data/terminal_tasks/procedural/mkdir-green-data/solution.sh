mkdir -p /app/green && touch /app/green/data.txt
