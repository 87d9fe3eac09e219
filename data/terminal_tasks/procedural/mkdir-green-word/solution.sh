mkdir -p /app/green && touch /app/green/word.txt
