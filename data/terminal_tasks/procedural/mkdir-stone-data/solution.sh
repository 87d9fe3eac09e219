mkdir -p /app/stone && touch /app/stone/data.txt
