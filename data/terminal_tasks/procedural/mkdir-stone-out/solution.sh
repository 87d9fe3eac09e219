mkdir -p /app/stone && touch /app/stone/out.txt
