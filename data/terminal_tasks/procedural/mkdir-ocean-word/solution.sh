mkdir -p /app/ocean && touch /app/ocean/word.txt
