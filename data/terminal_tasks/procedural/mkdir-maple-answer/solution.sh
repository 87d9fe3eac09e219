mkdir -p /app/maple && touch /app/maple/answer.txt
