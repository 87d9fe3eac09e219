mkdir -p /app/piano && touch /app/piano/word.txt
