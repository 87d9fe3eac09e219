mkdir -p /app/apple && touch /app/apple/word.txt
