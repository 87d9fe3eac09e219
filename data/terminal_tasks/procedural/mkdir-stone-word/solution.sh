mkdir -p /app/stone && touch /app/stone/word.txt
