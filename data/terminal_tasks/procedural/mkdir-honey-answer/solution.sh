mkdir -p /app/honey && touch /app/honey/answer.txt
