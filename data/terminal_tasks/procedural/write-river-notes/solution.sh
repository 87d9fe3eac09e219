echo river > /app/notes.txt
