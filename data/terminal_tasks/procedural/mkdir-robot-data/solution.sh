mkdir -p /app/robot && touch /app/robot/data.txt
