mkdir -p /app/piano && touch /app/piano/answer.txt
