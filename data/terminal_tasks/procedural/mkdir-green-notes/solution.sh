mkdir -p /app/green && touch /app/green/notes.txt
