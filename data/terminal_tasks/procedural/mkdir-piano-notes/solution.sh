mkdir -p /app/piano && touch /app/piano/notes.txt
