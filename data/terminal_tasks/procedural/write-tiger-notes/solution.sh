echo tiger > /app/notes.txt
