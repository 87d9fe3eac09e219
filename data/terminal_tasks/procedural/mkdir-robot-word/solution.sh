mkdir -p /app/robot && touch /app/robot/word.txt
