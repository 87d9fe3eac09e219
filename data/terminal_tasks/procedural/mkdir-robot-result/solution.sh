mkdir -p /app/robot && touch /app/robot/result.txt
