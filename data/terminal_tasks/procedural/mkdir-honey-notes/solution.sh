mkdir -p /app/honey && touch /app/honey/notes.txt
