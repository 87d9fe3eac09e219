mkdir -p /app/ocean && touch /app/ocean/answer.txt
