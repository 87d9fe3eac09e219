mkdir -p /app/lemon && touch /app/lemon/answer.txt
