echo stone > /app/answer.txt
