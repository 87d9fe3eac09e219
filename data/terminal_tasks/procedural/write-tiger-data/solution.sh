echo tiger > /app/data.txt
