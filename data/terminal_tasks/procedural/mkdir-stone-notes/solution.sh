mkdir -p /app/stone && touch /app/stone/notes.txt
