mkdir -p /app/apple && touch /app/apple/notes.txt
