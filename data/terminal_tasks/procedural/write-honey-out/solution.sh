echo honey > /app/out.txt
