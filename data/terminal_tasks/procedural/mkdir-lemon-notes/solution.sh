mkdir -p /app/lemon && touch /app/lemon/notes.txt
