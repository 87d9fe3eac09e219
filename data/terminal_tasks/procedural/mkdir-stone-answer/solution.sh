mkdir -p /app/stone && touch /app/stone/answer.txt
