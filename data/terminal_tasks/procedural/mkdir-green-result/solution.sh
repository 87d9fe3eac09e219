mkdir -p /app/green && touch /app/green/result.txt
