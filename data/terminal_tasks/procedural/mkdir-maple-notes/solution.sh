mkdir -p /app/maple && touch /app/maple/notes.txt
