mkdir -p /app/robot && touch /app/robot/out.txt
