mkdir -p /app/cloud && touch /app/cloud/notes.txt
