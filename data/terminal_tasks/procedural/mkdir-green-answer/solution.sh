mkdir -p /app/green && touch /app/green/answer.txt
