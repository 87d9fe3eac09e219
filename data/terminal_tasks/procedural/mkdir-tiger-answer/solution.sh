mkdir -p /app/tiger && touch /app/tiger/answer.txt
