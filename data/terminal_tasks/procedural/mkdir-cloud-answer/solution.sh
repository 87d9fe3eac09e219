mkdir -p /app/cloud && touch /app/cloud/answer.txt
