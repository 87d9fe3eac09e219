echo stone > /app/notes.txt
