echo tiger > /app/result.txt
