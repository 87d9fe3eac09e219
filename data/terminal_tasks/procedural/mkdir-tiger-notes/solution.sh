mkdir -p /app/tiger && touch /app/tiger/notes.txt
