mkdir -p /app/river && touch /app/river/notes.txt
