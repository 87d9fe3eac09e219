mkdir -p /app/river && touch /app/river/answer.txt
