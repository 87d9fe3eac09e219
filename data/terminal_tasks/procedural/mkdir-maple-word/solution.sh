mkdir -p /app/maple && touch /app/maple/word.txt
