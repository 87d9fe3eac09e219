mkdir -p /app/ocean && touch /app/ocean/notes.txt
