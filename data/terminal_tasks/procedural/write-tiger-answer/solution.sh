echo tiger > /app/answer.txt
