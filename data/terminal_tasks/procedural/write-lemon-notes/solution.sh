echo lemon > /app/notes.txt
