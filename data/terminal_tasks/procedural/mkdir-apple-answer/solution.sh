mkdir -p /app/apple && touch /app/apple/answer.txt
