echo tiger > /app/out.txt
