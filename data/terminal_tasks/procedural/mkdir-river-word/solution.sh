mkdir -p /app/river && touch /app/river/word.txt
