mkdir -p /app/robot && touch /app/robot/notes.txt
