mkdir -p /app/robot && touch /app/robot/answer.txt
