mkdir -p /app/stone && touch /app/stone/result.txt
